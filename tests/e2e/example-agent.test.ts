import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Value from 'typebox/value';
import { describe, expect, it, onTestFinished } from 'vitest';
import { AgentInfo, ExecuteFailed, ExecuteSucceeded } from '../../services/protocol/index.ts';
import { poll } from '../helpers/poll.ts';

const examplePath = fileURLToPath(new URL('../../docs/examples/word-count-agent.ts', import.meta.url));
const docPath = fileURLToPath(new URL('../../docs/AGENT_PROTOCOL.md', import.meta.url));

/** The first ```ts block under the "Writing your own agent" heading. */
function exampleInDoc(doc: string): string | undefined {
  const section = doc.split(/^## /m).find((s) => s.startsWith('Writing your own agent'));
  return section && /```ts\n([\s\S]*?)```/.exec(section)?.[1];
}

describe('the example agent of docs/AGENT_PROTOCOL.md', () => {
  it('is the file the doc shows', async () => {
    expect(exampleInDoc(await readFile(docPath, 'utf8'))).toBe(await readFile(examplePath, 'utf8'));
  });

  it('starts as its own process, counts the words it is sent, replays a repeated key and stops on SIGTERM', async () => {
    const token = randomBytes(24).toString('hex');
    const child = spawn(process.execPath, [examplePath], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        HOST: '127.0.0.1',
        PORT: '0',
        INTERNAL_TOKEN: token,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const url = await poll(
      () => {
        if (child.exitCode !== null) throw new Error(`the example exited ${child.exitCode}: ${err || out}`);
        return /^agentic-mesh: agent word-count listening on (http:\/\/\S+) \(grpc 127\.0\.0\.1:\d+\)$/m.exec(out)?.[1];
      },
      { timeoutMs: 20_000, label: 'the example agent to listen', intervalMs: 50 },
    );
    const auth = { authorization: `Bearer ${token}` };

    const info = await (await fetch(`${url}/info`, { headers: auth })).json();
    expect(Value.Check(AgentInfo, info), JSON.stringify(info)).toBe(true);
    expect(info).toMatchObject({ name: 'word-count', protocol: '1', capabilities: ['count words', 'find the most frequent word'] });

    // Words it cannot have known in advance: the answer has to come from the text.
    const rare = `w${randomBytes(4).toString('hex')}`;
    const text = `The ${rare} saw the dog; ${rare.toUpperCase()} and the ${rare} ran with ${rare}.`;
    const call = (key: string, input: Record<string, unknown>, headers: Record<string, string> = auth) =>
      fetch(`${url}/execute`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({
          idempotency_key: key,
          task_id: 't',
          step_id: 'count',
          attempt: 1,
          input,
          context: { dependencies: {} },
          timeout_ms: 5_000,
        }),
      });

    const first = await call('t:count:1', { text });
    expect(first.status).toBe(200);
    const body = await first.json();
    expect(Value.Check(ExecuteSucceeded, body), JSON.stringify(body)).toBe(true);
    expect(body).toMatchObject({
      status: 'succeeded',
      agent: 'word-count',
      output: { words: 12, distinct: 7, most_frequent: rare, summary: '12 words, 7 distinct' },
    });

    const again = await call('t:count:1', { text });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(body);

    const refused = await call('t:count:2', { words: ['not', 'text'] });
    expect(refused.status).toBe(400);
    const refusal = await refused.json();
    expect(Value.Check(ExecuteFailed, refusal), JSON.stringify(refusal)).toBe(true);
    expect(refusal).toMatchObject({ code: 'AGENT_INPUT_INVALID', message: expect.stringContaining('text') });
    expect((await call('t:count:3', { text }, {})).status).toBe(401);

    child.kill('SIGTERM');
    expect(await Promise.race([exited, sleep(15_000, 'still running 15 s after SIGTERM')])).toBe(0);
  });
});
