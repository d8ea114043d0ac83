// Entry point of the bundled command (scripts/bundle.js).
import { runCli } from './main.js';

// A reader that goes away early (`agent-safe list-actions | head -1`) closes the pipe: the rest of the
// output has nowhere to go, which is not the command's failure. Stop writing (to both streams, so no
// error report chases the closed pipe), print no stack trace, and exit with the command's own code.
// Any other write failure (a full disk behind a redirect) is not silent success: the exit code becomes 1.
let outputFailed = false;
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') outputFailed = true;
    silence(process.stdout);
    silence(process.stderr);
  });
}

function silence(stream: NodeJS.WriteStream): void {
  stream.write = ((_chunk: unknown, encoding?: unknown, callback?: unknown) => {
    const done = typeof encoding === 'function' ? encoding : callback;
    if (typeof done === 'function') process.nextTick(done as () => void);
    return true;
  }) as typeof stream.write;
}

const code = await runCli(process.argv.slice(2));
process.exitCode = outputFailed && code === 0 ? 1 : code;
