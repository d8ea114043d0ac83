import { Command, Option } from 'clipanion';
import { ConfigCommand } from '../base-command.js';
import { EXIT } from '../exit-codes.js';

export class ListActionsCommand extends ConfigCommand {
  static override paths = [['list-actions']];
  static override usage = Command.Usage({
    description: 'Show the registered actions',
    examples: [
      ['Every action', '$0 list-actions'],
      ['High-risk Kubernetes actions as JSON', '$0 list-actions --tag kubernetes --risk high --json-output'],
    ],
  });

  tag = Option.String('--tag', { description: 'Only actions with this tag' });
  risk = Option.String('--risk', {
    description: 'Only actions of this risk class (low, medium, high, critical)',
  });
  jsonOutput = Option.Boolean('--json-output', false, { description: 'Print JSON' });

  async run(): Promise<number> {
    const { ActionRegistry } = await import('@agent-safe/sdk');
    const { RISK_CLASSES, AgentSafeError } = await import('@agent-safe/sdk');
    if (this.risk !== undefined && !(RISK_CLASSES as readonly string[]).includes(this.risk)) {
      throw new AgentSafeError(
        'USAGE',
        `--risk must be one of ${RISK_CLASSES.join(', ')}, got "${this.risk}"`,
      );
    }
    const config = await this.projectConfig();
    const registry = await ActionRegistry.load(this.registry ?? config.registry ?? './actions');
    const actions = registry.list({ tag: this.tag, risk: this.risk as never });
    if (this.jsonOutput) {
      return this.printEnvelope(EXIT.OK, {
        actions: actions.map((action) => ({
          name: action.name,
          version: action.version,
          riskClass: action.riskClass,
          reversible: action.reversible,
          rollbackAction: action.rollbackAction,
          targetTypes: action.targetTypes,
          tags: action.tags,
          description: action.description.trim(),
          parameters: action.parameters.map((p) => ({ name: p.name, type: p.type, required: p.required })),
        })),
      });
    }
    const style = this.out;
    const width = Math.max(4, ...actions.map((action) => action.name.length));
    this.print(
      style.bold(`${'NAME'.padEnd(width)}  ${'VERSION'.padEnd(8)}  ${'RISK'.padEnd(8)}  REVERSIBLE  TAGS`),
    );
    for (const action of actions) {
      this.print(
        `${action.name.padEnd(width)}  ${action.version.padEnd(8)}  ${action.riskClass.padEnd(8)}  ${(action.reversible ? 'yes' : 'no').padEnd(10)}  ${action.tags.join(', ')}`,
      );
    }
    this.print(style.dim(`${actions.length} action${actions.length === 1 ? '' : 's'}`));
    return EXIT.OK;
  }
}
