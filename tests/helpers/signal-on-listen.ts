// Preloaded with `node --import` by tests/e2e/cli.test.ts: the process sends itself SIGTERM from
// inside the write that announces it listens, the earliest moment an operator (or an orchestrator
// of containers) could have seen the port open. No test can hit that moment from outside.
const write = process.stdout.write.bind(process.stdout);
let sent = false;
process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
  const ok = write(chunk, ...rest);
  if (!sent && String(chunk).includes('listening on http')) {
    sent = true;
    process.kill(process.pid, 'SIGTERM');
  }
  return ok;
}) as typeof process.stdout.write;
