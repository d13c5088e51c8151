import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { Type, type TObject } from 'typebox';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  agentProtoPath,
  agentService,
  executeRequestFrom,
  executeRequestMessage,
  ExecuteRequest,
  protoMessages,
} from '../../../services/protocol/index.ts';

const PACKAGE = 'agenticmesh.agent.v1';
const PROTO_KINDS: Record<string, string> = {
  TYPE_STRING: 'string',
  TYPE_BOOL: 'boolean',
  TYPE_INT32: 'integer',
  TYPE_INT64: 'integer',
  TYPE_UINT32: 'integer',
  TYPE_UINT64: 'integer',
  TYPE_DOUBLE: 'number',
  TYPE_FLOAT: 'number',
};

/**
 * The proto fields a schema calls for: scalars as themselves, another message's schema as that
 * message (by name), anything else as JSON text in `<name>_json`.
 */
function fieldsOfSchema(schema: TObject, messages: Record<string, TObject>): string[] {
  return Object.entries(schema.properties).map(([name, property]) => {
    const type = (property as { type?: unknown }).type;
    if (type === 'string' || type === 'integer' || type === 'boolean' || type === 'number') return `${name}: ${type}`;
    const message = Object.entries(messages).find(([, m]) => m.properties === (property as TObject).properties)?.[0];
    return message ? `${name}: ${message}` : `${name}_json: string`;
  });
}

/** The messages of a .proto, parsed by the loader the gRPC transports use, as "name: kind" fields. */
function fieldsOfProto(path: string): Record<string, string[]> {
  const definition = protoLoader.loadSync(path, { keepCase: true });
  const out: Record<string, string[]> = {};
  for (const [fullName, d] of Object.entries(definition)) {
    if (!('format' in d) || d.format !== 'Protocol Buffer 3 DescriptorProto') continue;
    const fields = (d.type as { field: Array<{ name: string; type: string; typeName?: string }> }).field;
    out[fullName.slice(PACKAGE.length + 1)] = fields.map(
      (f) => `${f.name}: ${f.type === 'TYPE_MESSAGE' ? String(f.typeName).split('.').at(-1) : (PROTO_KINDS[f.type] ?? f.type)}`,
    );
  }
  return out;
}

/** Every field on one side only, as "<message>: <field> only in the schema | only in the proto". */
function mismatches(schemas: Record<string, TObject>, proto: Record<string, string[]>): string[] {
  const out: string[] = [];
  for (const message of new Set([...Object.keys(schemas), ...Object.keys(proto)])) {
    const fromSchema = schemas[message] ? fieldsOfSchema(schemas[message], schemas) : [];
    const inProto = proto[message] ?? [];
    if (!schemas[message]) out.push(`${message}: a message with no schema`);
    if (!proto[message]) out.push(`${message}: a schema with no message`);
    for (const f of fromSchema) if (!inProto.includes(f)) out.push(`${message}: ${f} only in the schema`);
    for (const f of inProto) if (!fromSchema.includes(f)) out.push(`${message}: ${f} only in the proto`);
  }
  return out;
}

/** proto/agent.proto with `line` added to one message, in a directory of its own. */
async function protoWith(message: string, line: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'agent-proto-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const text = await readFile(agentProtoPath, 'utf8');
  const changed = text.replace(`message ${message} {`, `message ${message} {\n  ${line}`);
  expect(changed).not.toBe(text);
  const path = join(dir, 'agent.proto');
  await writeFile(path, changed);
  return path;
}

describe('proto/agent.proto and the protocol schemas', () => {
  it('carry the same fields in every message', () => {
    expect(mismatches(protoMessages, fieldsOfProto(agentProtoPath))).toEqual([]);
  });

  it('a field added to the schema alone is caught', () => {
    const schemas = { ...protoMessages, ExecuteRequest: Type.Object({ ...ExecuteRequest.properties, priority: Type.Integer() }) };
    expect(mismatches(schemas, fieldsOfProto(agentProtoPath))).toEqual(['ExecuteRequest: priority: integer only in the schema']);
  });

  it('a field added to the proto alone is caught, and so is a field of another kind', async () => {
    expect(mismatches(protoMessages, fieldsOfProto(await protoWith('ExecuteReply', 'string agent_json = 9;')))).toEqual([
      'ExecuteReply: agent_json: string only in the proto',
    ]);
    const retyped = fieldsOfProto(agentProtoPath);
    retyped.ExecuteRequest = retyped.ExecuteRequest!.map((f) => (f === 'attempt: integer' ? 'attempt: string' : f));
    expect(mismatches(protoMessages, retyped)).toEqual([
      'ExecuteRequest: attempt: integer only in the schema',
      'ExecuteRequest: attempt: string only in the proto',
    ]);
  });

  it('a call survives the wire: encoded by the caller, decoded by the agent', () => {
    const { Execute } = agentService().service;
    const request: ExecuteRequest = {
      idempotency_key: 't:s:2',
      task_id: 't',
      step_id: 's',
      attempt: 2,
      input: { files: [{ path: 'a.ts' }] },
      context: { description: 'd', dependencies: { up: { n: 1 } } },
      timeout_ms: 5_000,
    };
    const wire = Execute.requestDeserialize(Execute.requestSerialize(executeRequestMessage(request)));
    expect(executeRequestFrom(wire)).toEqual(request);
    const { timeout_ms: _none, ...untimed } = request;
    expect(executeRequestFrom(Execute.requestDeserialize(Execute.requestSerialize(executeRequestMessage(untimed))))).toEqual(untimed);
  });

  it('a call off the wire is held to what POST /execute takes, refused naming the field', () => {
    const good = executeRequestMessage({ idempotency_key: 'k', task_id: 't', step_id: 's', attempt: 1, input: {} });
    const deep = `${'['.repeat(70)}${']'.repeat(70)}`;
    const cases: Array<[Partial<typeof good>, string, string]> = [
      [{ input_json: '[1, 2]' }, 'VALIDATION_FAILED', 'input'],
      [{ input_json: '"text"' }, 'VALIDATION_FAILED', 'input'],
      [{ input_json: '{"a":' }, 'VALIDATION_FAILED', 'input_json'],
      [{ context_json: '{"dependencies": 5}' }, 'VALIDATION_FAILED', 'context.dependencies'],
      [{ input_json: '{"note": "a\\u0000b"}' }, 'INVALID_TEXT', 'request.input.note'],
      [{ input_json: '{"note": "\\ud800"}' }, 'INVALID_TEXT', 'request.input.note'],
      [{ input_json: `{"deep": ${deep}}` }, 'TOO_DEEP', ''],
      [{ attempt: 0 }, 'VALIDATION_FAILED', 'attempt'],
      [{ idempotency_key: '' }, 'VALIDATION_FAILED', 'idempotency_key'],
      [{ step_id: 'x'.repeat(200) }, 'VALIDATION_FAILED', 'step_id'],
    ];
    for (const [change, code, field] of cases) {
      let thrown: unknown;
      try {
        executeRequestFrom({ ...good, ...change });
      } catch (err) {
        thrown = err;
      }
      expect(thrown, JSON.stringify(change)).toMatchObject({ code, statusCode: 400 });
      if (field) expect((thrown as { details: { field: string } }).details.field, JSON.stringify(change)).toBe(field);
    }
  });
});
