// Writes a small JSON summary per package so .ci/run can print one total line.
const fs = require('node:fs');
const path = require('node:path');
class ResultsReporter {
  constructor(_globalConfig, options) {
    this.file = options.file;
  }
  onRunComplete(_contexts, results) {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const summary = {
      passed: results.numPassedTests,
      failed: results.numFailedTests + results.numRuntimeErrorTestSuites,
      pending: results.numPendingTests + results.numTodoTests,
      suitesFailed: results.numFailedTestSuites,
    };
    fs.writeFileSync(this.file, JSON.stringify(summary));
  }
}
module.exports = ResultsReporter;
