// Entry point of the bundled command (scripts/bundle.js).
import { runCli } from './main.js';

process.exitCode = await runCli(process.argv.slice(2));
