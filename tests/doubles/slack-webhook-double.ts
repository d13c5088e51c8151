// TEST DOUBLE of a Slack incoming webhook (hooks.slack.com cannot be reached here). Built from
// Slack's documented contract for incoming webhooks: POST a JSON body (Content-Type
// application/json) with at least one of `text`, `attachments` or `blocks`; Slack answers 200 with
// the plain-text body "ok", 400 "invalid_payload" when the body is not JSON, 400 "no_text" when
// it has none of the three, and 404 "no_service" for a URL that is not a webhook. What differs
// from Slack: nothing is shown to anyone; the posts are kept for the test, and the webhook's secret
// path is one the test picks rather than one Slack issues.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlackAttachment {
  title?: string;
  text?: string;
  fallback?: string;
  color?: string;
  [field: string]: unknown;
}

export interface SlackPost {
  text?: string;
  attachments?: SlackAttachment[];
  blocks?: unknown[];
  [field: string]: unknown;
}

export interface SlackWebhookDouble {
  /** The webhook URL to configure (SLACK_WEBHOOK_URL). */
  url: string;
  /** Every accepted post, in arrival order. */
  posts: SlackPost[];
  /** Requests refused, with the reason Slack would give. */
  refused: Array<{ status: number; reason: string }>;
  stop(): Promise<void>;
}

function answer(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
}

/** `host`: loopback by default; a container reaches the double at its network's gateway address. */
export async function startSlackWebhookDouble(opts: { host?: string } = {}): Promise<SlackWebhookDouble> {
  const path = `/services/T${randomBytes(4).toString('hex').toUpperCase()}/B${randomBytes(4).toString('hex').toUpperCase()}/${randomBytes(12).toString('hex')}`;
  const posts: SlackPost[] = [];
  const refused: Array<{ status: number; reason: string }> = [];
  const refuse = (res: ServerResponse, status: number, reason: string): void => {
    refused.push({ status, reason });
    answer(res, status, reason);
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== path) return refuse(res, 404, 'no_service');
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return refuse(res, 400, 'invalid_payload');
      }
      if (typeof body !== 'object' || body === null || Array.isArray(body)) return refuse(res, 400, 'invalid_payload');
      const post = body as SlackPost;
      const hasText = typeof post.text === 'string' && post.text.length > 0;
      const hasAttachments = Array.isArray(post.attachments) && post.attachments.length > 0;
      const hasBlocks = Array.isArray(post.blocks) && post.blocks.length > 0;
      if (!hasText && !hasAttachments && !hasBlocks) return refuse(res, 400, 'no_text');
      posts.push(post);
      answer(res, 200, 'ok');
    });
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}${path}`,
    posts,
    refused,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
