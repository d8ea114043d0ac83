import { Command, Option } from 'clipanion';
import { ConfigCommand } from '../base-command.js';
import { bindingFindings } from '../binding-findings.js';
import { EXIT } from '../exit-codes.js';
import { errorEntry } from '../json-envelope.js';
import { checkConfiguredKeys } from '../key-options.js';

interface Line {
  severity: 'error' | 'warning' | 'ok';
  subject: string;
  message: string;
  /** The issue's own message, without its file and path (the envelope has fields for those). */
  detail?: string;
  file?: string;
  path?: string;
}

export class ValidateCommand extends ConfigCommand {
  static override paths = [['validate']];
  static override usage = Command.Usage({
    description:
      'Validate actions, policies and inventory, and analyse the policy for dead or conflicting rules',
    details: `
      Loads every file and reports every problem (not only the first), then analyses the rules: rules that can
      never fire because a higher-priority rule matches a superset (shadowed), equal-priority rules with
      different decisions that can match the same request (conflicts), and selectors naming unknown actions or
      environments. Shadow mode's candidate policies (\`shadow.policies\` or \`--shadow-policy\`) must load
      too; what the analysis finds in them is a warning, since they never decide. It also loads the keys
      agent-safe.yaml configures (\`signing_key\`, \`verification_keys\`,
      \`audit_checkpoints.key\`)
      as \`check\` will: a key that cannot be loaded (unset variable, missing or exposed file, short secret) is
      an error, since every check would be DENY.

      Exit codes: 0 valid (warnings allowed unless --strict), 1 errors found.
    `,
    examples: [
      ['Validate the project', '$0 validate'],
      [
        'Validate explicit paths and regenerate the integrity manifest',
        '$0 validate --registry ./actions --write-manifest',
      ],
    ],
  });

  writeManifest = Option.Boolean('--write-manifest', false, {
    description: 'Write actions.manifest.json (SHA-256 of every action file) after a successful validation',
  });
  strict = Option.Boolean('--strict', false, { description: 'Treat warnings as errors' });
  jsonOutput = Option.Boolean('--json-output', false, { description: 'Print JSON' });
  shadowPolicy = Option.String('--shadow-policy', {
    description: 'Candidate policies to validate too (default: shadow.policies in agent-safe.yaml)',
  });

  async run(): Promise<number> {
    const { ActionRegistry, Inventory, writeManifest } = await import('@agent-safe/sdk');
    const { loadPolicies, analysePolicies } = await import('@agent-safe/sdk');
    const config = await this.projectConfig();
    const paths = {
      registry: this.registry ?? config.registry ?? './actions',
      policies: this.policies ?? config.policies ?? './policies',
      inventory: this.inventory ?? config.inventory ?? './inventory.yaml',
    };
    const lines: Line[] = [];
    const failure = (subject: string, error: unknown) => {
      const issues = (error as { issues?: { file?: string; path?: string; message: string }[] }).issues ?? [];
      // The headline ("2 problems in 1 file") only summarises the issues: each problem prints and
      // counts once.
      if (issues.length === 0) lines.push({ severity: 'error', subject, message: (error as Error).message });
      for (const issue of issues) {
        lines.push({
          severity: 'error',
          subject,
          message: [issue.file, issue.path, issue.message].filter(Boolean).join(': '),
          detail: issue.message,
          ...(issue.file ? { file: issue.file } : {}),
          ...(issue.path ? { path: issue.path } : {}),
        });
      }
    };
    const [registry, inventory, policies] = await Promise.all([
      ActionRegistry.load(paths.registry).catch((error: unknown) => void failure('actions', error)),
      Inventory.load(paths.inventory).catch((error: unknown) => void failure('inventory', error)),
      loadPolicies(paths.policies).catch((error: unknown) => void failure('policies', error)),
    ]);
    if (registry)
      lines.push({
        severity: 'ok',
        subject: 'actions',
        message: `${registry.size} loaded from ${paths.registry}`,
      });
    if (inventory)
      lines.push({
        severity: 'ok',
        subject: 'inventory',
        message: `${inventory.size} targets in ${paths.inventory}`,
      });
    if (policies) {
      lines.push({
        severity: 'ok',
        subject: 'policies',
        message: `${policies.rules.length} rules from ${paths.policies}`,
      });
      for (const finding of analysePolicies({
        rules: policies.rules,
        actions: registry ?? undefined,
        targets: inventory ?? undefined,
      })) {
        lines.push({ severity: finding.severity, subject: finding.kind, message: finding.message });
      }
    }
    // Shadow mode's candidate policies (docs/server.md): a file that does not load stops `serve`, so it is
    // an error; what the analysis finds in a candidate is advice, since it never decides anything.
    const shadowPath =
      this.shadowPolicy ?? (typeof config.shadow?.policies === 'string' ? config.shadow.policies : undefined);
    const shadow =
      shadowPath === undefined
        ? undefined
        : await loadPolicies(shadowPath).catch((error: unknown) => void failure('shadow policies', error));
    if (shadow) {
      lines.push({
        severity: 'ok',
        subject: 'shadow policies',
        message: `${shadow.rules.length} rules from ${shadowPath}`,
      });
      const context = { actions: registry ?? undefined, targets: inventory ?? undefined };
      for (const finding of analysePolicies({ rules: shadow.rules, ...context })) {
        lines.push({ severity: 'warning', subject: `shadow ${finding.kind}`, message: finding.message });
      }
    }
    for (const issue of registry ? registry.warnings : []) {
      lines.push({
        severity: 'warning',
        subject: 'actions',
        message: [issue.file, issue.path, issue.message].filter(Boolean).join(': '),
      });
    }
    if (registry || inventory) {
      const enforced = config.enforceTargetBinding === true;
      for (const finding of bindingFindings(registry?.list(), inventory?.list(), enforced)) {
        lines.push({ severity: finding.severity, subject: 'target binding', message: finding.message });
      }
    }
    // Where rate-limit and cumulative-risk state lives for `check` (each run is a new process), and
    // whether that store would refuse every check.
    const guardState = await (await import('@agent-safe/sdk')).guardStateFinding(config);
    if (guardState) lines.push({ ...guardState, subject: 'guard state' });
    // The keys `check` will load: a key that cannot be loaded makes every check DENY.
    for (const key of await checkConfiguredKeys(config)) {
      lines.push({
        severity: key.ok ? 'ok' : 'error',
        subject: 'keys',
        message: `${key.setting}: ${key.message}`,
        detail: key.message,
        ...(config.file ? { file: config.file } : {}),
        path: key.setting,
      });
    }
    // audit_shippers: settings `check` would refuse (a secret's env: variable unset, a bad URL or bucket).
    if (config.auditShippers !== undefined) {
      const { checkAuditShippers } = await import('@agent-safe/sdk');
      for (const finding of checkAuditShippers(config)) lines.push({ ...finding, subject: 'audit shippers' });
    }
    const errors = lines.filter((line) => line.severity === 'error').length;
    const warnings = lines.filter((line) => line.severity === 'warning').length;
    const failed = errors > 0 || (this.strict && warnings > 0);
    if (!failed && this.writeManifest && registry) {
      const manifest = await writeManifest(paths.registry);
      lines.push({
        severity: 'ok',
        subject: 'manifest',
        message: `wrote ${Object.keys(manifest.files).length} file hashes to ${paths.registry}/actions.manifest.json`,
      });
    }
    if (this.jsonOutput) {
      const problems = lines.filter(
        (line) => line.severity === 'error' || (this.strict && line.severity === 'warning'),
      );
      return this.printEnvelope(
        failed ? EXIT.ERROR : EXIT.OK,
        { errorCount: errors, warningCount: warnings, findings: lines },
        problems.map((line) =>
          errorEntry('CONFIG_INVALID', {
            message: line.detail ?? line.message,
            file: line.file,
            path: line.path,
          }),
        ),
      );
    } else {
      const style = this.out;
      for (const line of lines) {
        const mark =
          line.severity === 'ok'
            ? style.green('✓')
            : line.severity === 'warning'
              ? style.yellow('warning')
              : style.red('error');
        this.print(`${mark} ${style.bold(line.subject)}: ${line.message}`);
      }
      this.print(
        failed
          ? style.red(`Invalid: ${errors} error(s), ${warnings} warning(s)`)
          : style.green(`Valid${warnings ? ` with ${warnings} warning(s)` : ''}`),
      );
    }
    return failed ? EXIT.ERROR : EXIT.OK;
  }
}
