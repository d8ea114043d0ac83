import { Command, Option } from 'clipanion';
import { ConfigCommand } from '../base-command.js';
import { EXIT } from '../exit-codes.js';

export class TestCommand extends ConfigCommand {
  static override paths = [['test']];
  static override usage = Command.Usage({
    description: 'Run table-driven policy test cases',
    details: `
      Reads every *.yaml suite under \`path\` (a file or a directory) and checks each case's expected decision.
      Cases: name, action, target, caller, params, expect (allow | deny | require_approval), and optionally
      ticket_id, caller_roles, caller_groups, delegation_chain, time (ISO 8601; without a UTC offset it is read
      in the project's time_zone, default UTC) and expect_rule. Nothing is written to the audit log.
      Exit codes: 0 all passed, 1 a case failed, a file is invalid, or there are no cases to run.
    `,
    examples: [['Run the project suite', '$0 test tests/ --registry ./actions --policies ./policies']],
  });

  suitePath = Option.String({ name: 'path' });
  jsonOutput = Option.Boolean('--json-output', false, { description: 'Print JSON results' });

  async run(): Promise<number> {
    const { loadPolicyTests, runPolicyTests } = await import('@agent-safe/sdk');
    const cases = loadPolicyTests(this.suitePath);
    const safe = await this.open();
    const report = runPolicyTests(safe, cases);
    if (this.jsonOutput) {
      // A failing case is the suite's result, not an error of the command (as DENY is for `check`):
      // `ok` is false and `data.cases` says which; `errors` lists only problems with the input.
      return this.printEnvelope(report.failed > 0 ? EXIT.ERROR : EXIT.OK, {
        passed: report.passed,
        failed: report.failed,
        cases: report.results.map((result) => ({
          name: result.case.name,
          file: result.case.file,
          passed: result.passed,
          expected: result.case.expect,
          actual: result.actual,
          matchedRule: result.matchedRule,
          reason: result.reason,
          ...(result.failure ? { failure: result.failure } : {}),
        })),
      });
    } else {
      const style = this.out;
      for (const result of report.results) {
        if (result.passed)
          this.print(`${style.green('PASS')} ${result.case.name} ${style.dim(`→ ${result.actual}`)}`);
        else this.print(`${style.red('FAIL')} ${result.case.name}: ${result.failure}`);
      }
      const line = `${report.passed} passed, ${report.failed} failed (${report.results.length} cases)`;
      this.print(report.failed > 0 ? style.red(line) : style.green(line));
    }
    return report.failed > 0 ? EXIT.ERROR : EXIT.OK;
  }
}
