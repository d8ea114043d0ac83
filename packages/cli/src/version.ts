/** Version of the CLI package. Kept in step with package.json by the build (see scripts/copy-templates.js). */
export const VERSION = '0.1.0';
