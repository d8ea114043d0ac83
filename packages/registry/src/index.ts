export { DEFAULT_MAX_YAML_BYTES, parseYaml } from './parse-yaml.js';
export type { YamlLimits } from './parse-yaml.js';
