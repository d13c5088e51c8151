// TEST DOUBLE of DigitalOcean Spaces, which speaks the Amazon S3 REST API (no S3 endpoint can be
// reached here). Built from the S3 API reference for what the AWS CLI sends for `aws s3 cp` (both
// ways), `aws s3 ls`, `aws s3 rm` and `aws s3api list-objects-v2` / `delete-objects`, path-style:
//   PUT    /bucket/key                       PutObject      200, ETag = "md5 of the bytes"
//   GET    /bucket/key  [Range: bytes=a-b]   GetObject      200 or 206 + Content-Range; 404 NoSuchKey
//   HEAD   /bucket/key                       HeadObject     200 or 404 without a body
//   DELETE /bucket/key                       DeleteObject   204, also for a key that is not there
//   GET    /bucket?list-type=2&prefix=&delimiter=&max-keys=&continuation-token=&start-after=&encoding-type=url
//                                            ListObjectsV2  ListBucketResult, CommonPrefixes, pages
//   POST   /bucket?delete                    DeleteObjects  DeleteResult
//   POST   /bucket/key?uploads, PUT ?partNumber&uploadId, POST ?uploadId, DELETE ?uploadId
//                                            multipart upload (the CLI switches to it past 8 MiB)
// Every request must carry a valid AWS Signature Version 4 for the configured key pair and region
// (403 InvalidAccessKeyId / SignatureDoesNotMatch otherwise), and a payload that matches its
// x-amz-content-sha256 and x-amz-checksum-* values. Bodies in the aws-chunked content encoding
// (what current AWS CLIs send with a trailing checksum) are decoded and their trailer checked.
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';

export interface S3Object {
  key: string;
  body: Buffer;
  etag: string;
  lastModified: Date;
  contentType: string;
}

export interface S3RequestRecord {
  operation: string;
  method: string;
  path: string;
  status: number;
  /** x-amz-content-sha256 as sent: a hash, UNSIGNED-PAYLOAD or a STREAMING-* (aws-chunked) mode. */
  payload: string;
}

export interface S3Double {
  /** As `aws --endpoint-url` and SPACES_ENDPOINT take it. */
  endpoint: string;
  /** With `tls`: the self-signed certificate, for AWS_CA_BUNDLE. */
  caBundle: string | undefined;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  objects(bucket: string): S3Object[];
  /** Seeds an object as a PutObject would store it (for listings a test starts from). */
  putObject(bucket: string, key: string, body: Buffer | string): void;
  requests: S3RequestRecord[];
  stop(): Promise<void>;
}

class S3Error extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const xmlEscape = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
const xml = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
const ns = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';
const sha256Hex = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

/** RFC 3986 encoding as SigV4 canonicalisation wants it (unreserved characters kept). */
function uriEncode(s: string, keepSlash: boolean): string {
  return [...Buffer.from(s, 'utf8')]
    .map((b) => {
      const c = String.fromCharCode(b);
      if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) return c;
      return `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

// CRC-32C (Castagnoli), one of the checksums the CLI may choose; node:zlib only has CRC-32.
const crc32cTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32c(data: Buffer): number {
  let c = 0xffffffff;
  for (const b of data) c = crc32cTable[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b.toString('base64');
};
const checksums: Record<string, (data: Buffer) => string> = {
  'x-amz-checksum-crc32': (d) => u32(crc32(d)),
  'x-amz-checksum-crc32c': (d) => u32(crc32c(d)),
  'x-amz-checksum-sha1': (d) => createHash('sha1').update(d).digest('base64'),
  'x-amz-checksum-sha256': (d) => createHash('sha256').update(d).digest('base64'),
};

function checkChecksum(name: string, value: string, data: Buffer): void {
  const compute = checksums[name];
  if (!compute) throw new S3Error(400, 'InvalidRequest', `unsupported checksum ${name}`);
  if (compute(data) !== value) throw new S3Error(400, 'BadDigest', `the ${name} you specified did not match the calculated checksum`);
}

/** Decodes `<hex size>[;chunk-signature=..]\r\n<data>\r\n ... 0\r\n<trailer lines>\r\n`. */
function decodeAwsChunked(raw: Buffer): { data: Buffer; trailers: Record<string, string> } {
  const parts: Buffer[] = [];
  let pos = 0;
  const line = () => {
    const end = raw.indexOf('\r\n', pos);
    if (end < 0) throw new S3Error(400, 'IncompleteBody', 'aws-chunked body ends inside a chunk header');
    const text = raw.subarray(pos, end).toString('latin1');
    pos = end + 2;
    return text;
  };
  for (;;) {
    const header = line();
    const size = Number.parseInt(header.split(';')[0]!, 16);
    if (!Number.isFinite(size)) throw new S3Error(400, 'InvalidRequest', `bad aws-chunked chunk header ${JSON.stringify(header)}`);
    if (size === 0) break;
    if (pos + size + 2 > raw.length) throw new S3Error(400, 'IncompleteBody', 'aws-chunked body shorter than its chunk sizes');
    parts.push(raw.subarray(pos, pos + size));
    pos += size + 2;
  }
  const trailers: Record<string, string> = {};
  while (pos < raw.length) {
    const text = line();
    if (text === '') break;
    const i = text.indexOf(':');
    trailers[text.slice(0, i).trim().toLowerCase()] = text.slice(i + 1).trim();
  }
  return { data: Buffer.concat(parts), trailers };
}

/** A key and self-signed certificate for 127.0.0.1, made by the openssl CLI in a temp directory. */
async function selfSigned(): Promise<{ dir: string; key: Buffer; cert: Buffer; certFile: string }> {
  const dir = await mkdtemp(join(tmpdir(), 's3-double-tls-'));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ]);
  return { dir, key: await readFile(keyFile), cert: await readFile(certFile), certFile };
}

/**
 * `tls: true` serves HTTPS, as Spaces does: the AWS CLI then sends uploads unsigned in the
 * aws-chunked encoding with a trailing checksum (over plain HTTP it signs the payload instead).
 */
export async function startS3Double(opts: {
  buckets: string[];
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  tls?: boolean;
  /** Where to listen: loopback unless a container must reach it (the compose network's gateway). */
  host?: string;
}): Promise<S3Double> {
  const region = opts.region ?? 'nyc3';
  const accessKeyId = opts.accessKeyId ?? `DO00${randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase()}`;
  const secretAccessKey = opts.secretAccessKey ?? randomUUID() + randomUUID();
  const buckets = new Map(opts.buckets.map((b) => [b, new Map<string, S3Object>()]));
  const uploads = new Map<
    string,
    { bucket: string; key: string; parts: Map<number, { body: Buffer; etag: string }>; contentType: string }
  >();
  const requests: S3RequestRecord[] = [];

  function verifySignature(req: IncomingMessage, url: URL, payloadHash: string): void {
    const auth = req.headers.authorization ?? '';
    const m =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
        auth,
      );
    if (!m) throw new S3Error(403, 'AccessDenied', 'requests must be signed with AWS Signature Version 4');
    const [, keyId, date, reqRegion, signedHeaders, signature] = m as unknown as [string, string, string, string, string, string];
    if (keyId !== accessKeyId) throw new S3Error(403, 'InvalidAccessKeyId', 'the access key Id you provided does not exist in our records');
    if (reqRegion !== region)
      throw new S3Error(
        400,
        'AuthorizationHeaderMalformed',
        `the authorization header is malformed; the region '${reqRegion}' is wrong; expecting '${region}'`,
      );
    const amzDate = String(req.headers['x-amz-date'] ?? '');
    if (!amzDate.startsWith(date)) throw new S3Error(403, 'SignatureDoesNotMatch', 'x-amz-date does not match the credential scope');
    const names = signedHeaders.split(';');
    if (!names.includes('host')) throw new S3Error(403, 'SignatureDoesNotMatch', 'the host header must be signed');
    const canonicalHeaders = names
      .map((n) => {
        const v = req.headers[n];
        return `${n}:${(Array.isArray(v) ? v.join(',') : (v ?? '')).trim().replace(/\s+/g, ' ')}\n`;
      })
      .join('');
    const query = [...url.searchParams.entries()]
      .map(([k, v]) => [uriEncode(k, false), uriEncode(v, false)] as const)
      .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`)
      .join('&');
    // S3 signs the path as sent (each segment encoded once), not normalised.
    const path = uriEncode(decodeURIComponent(url.pathname), true);
    const canonical = [req.method, path, query, canonicalHeaders, signedHeaders, payloadHash].join('\n');
    const scope = `${date}/${region}/s3/aws4_request`;
    const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonical)].join('\n');
    const key = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date), region), 's3'), 'aws4_request');
    if (hmac(key, toSign).toString('hex') !== signature) {
      throw new S3Error(403, 'SignatureDoesNotMatch', 'the request signature we calculated does not match the signature you provided');
    }
  }

  /** The object bytes of a PUT: payload hash, aws-chunked decoding and checksums checked. */
  function payloadOf(req: IncomingMessage, raw: Buffer): Buffer {
    const declared = String(req.headers['x-amz-content-sha256'] ?? '');
    let data = raw;
    let trailers: Record<string, string> = {};
    if (declared.startsWith('STREAMING-')) {
      if (!String(req.headers['content-encoding'] ?? '').includes('aws-chunked'))
        throw new S3Error(400, 'InvalidRequest', 'a streaming payload needs Content-Encoding: aws-chunked');
      ({ data, trailers } = decodeAwsChunked(raw));
      const decodedLength = Number(req.headers['x-amz-decoded-content-length']);
      if (decodedLength !== data.length)
        throw new S3Error(400, 'IncompleteBody', `x-amz-decoded-content-length ${decodedLength} but ${data.length} bytes arrived`);
      const announced = String(req.headers['x-amz-trailer'] ?? '').toLowerCase();
      if (announced && !trailers[announced])
        throw new S3Error(400, 'MalformedTrailerError', `trailer ${announced} was announced but not sent`);
    } else if (declared !== 'UNSIGNED-PAYLOAD' && declared !== sha256Hex(raw)) {
      throw new S3Error(400, 'XAmzContentSHA256Mismatch', 'the provided x-amz-content-sha256 header does not match what was computed');
    }
    for (const [name, value] of [...Object.entries(req.headers), ...Object.entries(trailers)]) {
      if (
        name.startsWith('x-amz-checksum-') &&
        name !== 'x-amz-checksum-type' &&
        name !== 'x-amz-checksum-algorithm' &&
        typeof value === 'string'
      )
        checkChecksum(name, value, data);
    }
    const md5 = req.headers['content-md5'];
    if (typeof md5 === 'string' && createHash('md5').update(data).digest('base64') !== md5)
      throw new S3Error(400, 'BadDigest', 'the Content-MD5 you specified did not match what we received');
    return data;
  }

  function bucketOf(name: string): Map<string, S3Object> {
    const b = buckets.get(name);
    if (!b) throw new S3Error(404, 'NoSuchBucket', 'the specified bucket does not exist');
    return b;
  }

  function objectOf(bucket: string, key: string): S3Object {
    const o = bucketOf(bucket).get(key);
    if (!o) throw new S3Error(404, 'NoSuchKey', 'the specified key does not exist');
    return o;
  }

  function listV2(bucket: string, q: URLSearchParams): string {
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const maxKeys = Math.min(1000, Number(q.get('max-keys') ?? 1000));
    const encode = q.get('encoding-type') === 'url';
    const enc = (s: string) => xmlEscape(encode ? uriEncode(s, true) : s);
    const after = q.get('continuation-token')
      ? Buffer.from(q.get('continuation-token')!, 'base64url').toString()
      : (q.get('start-after') ?? '');
    const keys = [...bucketOf(bucket).keys()].filter((k) => k.startsWith(prefix) && k > after).sort();
    // Keys under a common prefix collapse into one entry, which counts once toward max-keys.
    const entries: Array<{ key: string } | { prefix: string }> = [];
    const seenPrefixes = new Set<string>();
    let last = '';
    let truncated = false;
    for (const k of keys) {
      const rest = k.slice(prefix.length);
      const cut = delimiter ? rest.indexOf(delimiter) : -1;
      if (cut >= 0) {
        const p = prefix + rest.slice(0, cut + delimiter.length);
        if (seenPrefixes.has(p)) {
          last = k;
          continue;
        }
        if (entries.length === maxKeys) {
          truncated = true;
          break;
        }
        seenPrefixes.add(p);
        entries.push({ prefix: p });
      } else {
        if (entries.length === maxKeys) {
          truncated = true;
          break;
        }
        entries.push({ key: k });
      }
      last = k;
    }
    const objects = bucketOf(bucket);
    const contents = entries
      .filter((e): e is { key: string } => 'key' in e)
      .map(({ key }) => {
        const o = objects.get(key)!;
        return `<Contents><Key>${enc(key)}</Key><LastModified>${o.lastModified.toISOString()}</LastModified><ETag>&quot;${o.etag}&quot;</ETag><Size>${o.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
      })
      .join('');
    const common = entries
      .filter((e): e is { prefix: string } => 'prefix' in e)
      .map((e) => `<CommonPrefixes><Prefix>${enc(e.prefix)}</Prefix></CommonPrefixes>`)
      .join('');
    return xml(
      `<ListBucketResult ${ns}><Name>${xmlEscape(bucket)}</Name><Prefix>${enc(prefix)}</Prefix>` +
        (delimiter ? `<Delimiter>${enc(delimiter)}</Delimiter>` : '') +
        `<MaxKeys>${maxKeys}</MaxKeys><KeyCount>${entries.length}</KeyCount><IsTruncated>${truncated}</IsTruncated>` +
        (encode ? '<EncodingType>url</EncodingType>' : '') +
        (q.get('continuation-token') ? `<ContinuationToken>${xmlEscape(q.get('continuation-token')!)}</ContinuationToken>` : '') +
        (truncated ? `<NextContinuationToken>${Buffer.from(last).toString('base64url')}</NextContinuationToken>` : '') +
        (q.get('start-after') ? `<StartAfter>${enc(q.get('start-after')!)}</StartAfter>` : '') +
        `${contents}${common}</ListBucketResult>`,
    );
  }

  type Reply = { status: number; headers?: Record<string, string>; body?: Buffer | string };

  function handle(op: { name: string }, req: IncomingMessage, url: URL, raw: Buffer): Reply {
    const segments = url.pathname.split('/');
    const bucket = decodeURIComponent(segments[1] ?? '');
    const key = decodeURIComponent(segments.slice(2).join('/'));
    const q = url.searchParams;
    const method = req.method ?? 'GET';
    if (!bucket) throw new S3Error(501, 'NotImplemented', 'ListBuckets is not part of this double');

    if (!key) {
      bucketOf(bucket);
      if (method === 'GET' && q.get('list-type') === '2') {
        op.name = 'ListObjectsV2';
        return { status: 200, headers: { 'content-type': 'application/xml' }, body: listV2(bucket, q) };
      }
      if (method === 'POST' && q.has('delete')) {
        op.name = 'DeleteObjects';
        const body = payloadOf(req, raw).toString('utf8');
        const quiet = /<Quiet>true<\/Quiet>/.test(body);
        const keys = [...body.matchAll(/<Key>([\s\S]*?)<\/Key>/g)].map((m) =>
          m[1]!
            .replace(/&lt;/g, '<')
            .replace(/&gt;/g, '>')
            .replace(/&quot;/g, '"')
            .replace(/&apos;/g, "'")
            .replace(/&amp;/g, '&'),
        );
        for (const k of keys) bucketOf(bucket).delete(k);
        const deleted = quiet ? '' : keys.map((k) => `<Deleted><Key>${xmlEscape(k)}</Key></Deleted>`).join('');
        return { status: 200, headers: { 'content-type': 'application/xml' }, body: xml(`<DeleteResult ${ns}>${deleted}</DeleteResult>`) };
      }
      if (method === 'HEAD') {
        op.name = 'HeadBucket';
        return { status: 200 };
      }
      throw new S3Error(501, 'NotImplemented', `${method} on a bucket with ${url.search} is not part of this double`);
    }

    if (method === 'POST' && q.has('uploads')) {
      op.name = 'CreateMultipartUpload';
      bucketOf(bucket);
      const uploadId = randomUUID();
      uploads.set(uploadId, { bucket, key, parts: new Map(), contentType: String(req.headers['content-type'] ?? 'binary/octet-stream') });
      return {
        status: 200,
        headers: { 'content-type': 'application/xml' },
        body: xml(
          `<InitiateMultipartUploadResult ${ns}><Bucket>${xmlEscape(bucket)}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${uploadId}</UploadId></InitiateMultipartUploadResult>`,
        ),
      };
    }
    if (q.has('uploadId')) {
      const upload = uploads.get(q.get('uploadId')!);
      if (!upload || upload.bucket !== bucket || upload.key !== key)
        throw new S3Error(404, 'NoSuchUpload', 'the specified multipart upload does not exist');
      if (method === 'PUT') {
        op.name = 'UploadPart';
        const part = Number(q.get('partNumber'));
        if (!Number.isInteger(part) || part < 1 || part > 10_000)
          throw new S3Error(400, 'InvalidArgument', 'part number must be an integer between 1 and 10000');
        const body = payloadOf(req, raw);
        const etag = createHash('md5').update(body).digest('hex');
        upload.parts.set(part, { body, etag });
        return { status: 200, headers: { etag: `"${etag}"` } };
      }
      if (method === 'POST') {
        op.name = 'CompleteMultipartUpload';
        const body = payloadOf(req, raw).toString('utf8');
        const listed = [...body.matchAll(/<Part>[\s\S]*?<PartNumber>(\d+)<\/PartNumber>[\s\S]*?<\/Part>/g)].map((m) => Number(m[1]));
        if (listed.length === 0) throw new S3Error(400, 'MalformedXML', 'the XML you provided was not well-formed');
        const parts = listed.map((n, i) => {
          const p = upload.parts.get(n);
          if (!p) throw new S3Error(400, 'InvalidPart', `part ${n} was not uploaded`);
          if (i > 0 && listed[i - 1]! >= n) throw new S3Error(400, 'InvalidPartOrder', 'the list of parts was not in ascending order');
          return p;
        });
        const etag = `${createHash('md5')
          .update(Buffer.concat(parts.map((p) => Buffer.from(p.etag, 'hex'))))
          .digest('hex')}-${parts.length}`;
        bucketOf(bucket).set(key, {
          key,
          body: Buffer.concat(parts.map((p) => p.body)),
          etag,
          lastModified: new Date(),
          contentType: upload.contentType,
        });
        uploads.delete(q.get('uploadId')!);
        return {
          status: 200,
          headers: { 'content-type': 'application/xml' },
          body: xml(
            `<CompleteMultipartUploadResult ${ns}><Location>${xmlEscape(url.href)}</Location><Bucket>${xmlEscape(bucket)}</Bucket><Key>${xmlEscape(key)}</Key><ETag>&quot;${etag}&quot;</ETag></CompleteMultipartUploadResult>`,
          ),
        };
      }
      if (method === 'DELETE') {
        op.name = 'AbortMultipartUpload';
        uploads.delete(q.get('uploadId')!);
        return { status: 204 };
      }
    }

    if (method === 'PUT') {
      op.name = 'PutObject';
      if (req.headers['x-amz-copy-source']) throw new S3Error(501, 'NotImplemented', 'CopyObject is not part of this double');
      const body = payloadOf(req, raw);
      const etag = createHash('md5').update(body).digest('hex');
      bucketOf(bucket).set(key, {
        key,
        body,
        etag,
        lastModified: new Date(),
        contentType: String(req.headers['content-type'] ?? 'binary/octet-stream'),
      });
      return { status: 200, headers: { etag: `"${etag}"` } };
    }
    if (method === 'GET' || method === 'HEAD') {
      op.name = method === 'GET' ? 'GetObject' : 'HeadObject';
      const o = objectOf(bucket, key);
      const headers: Record<string, string> = {
        etag: `"${o.etag}"`,
        'last-modified': o.lastModified.toUTCString(),
        'content-type': o.contentType,
        'accept-ranges': 'bytes',
      };
      const range = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range ?? ''));
      if (range && method === 'GET') {
        const size = o.body.length;
        const start = range[1] === '' ? Math.max(0, size - Number(range[2])) : Number(range[1]);
        const end = range[1] !== '' && range[2] !== '' ? Math.min(size - 1, Number(range[2])) : size - 1;
        if (start >= size || start > end) throw new S3Error(416, 'InvalidRange', 'the requested range is not satisfiable');
        headers['content-range'] = `bytes ${start}-${end}/${size}`;
        return { status: 206, headers, body: o.body.subarray(start, end + 1) };
      }
      headers['content-length'] = String(o.body.length);
      return { status: 200, headers, body: method === 'GET' ? o.body : undefined };
    }
    if (method === 'DELETE') {
      op.name = 'DeleteObject';
      bucketOf(bucket).delete(key);
      return { status: 204 };
    }
    throw new S3Error(501, 'NotImplemented', `${method} ${url.search} is not part of this double`);
  }

  function send(req: IncomingMessage, res: ServerResponse, op: { name: string }, reply: Reply): void {
    requests.push({
      operation: op.name,
      method: req.method ?? '',
      path: req.url ?? '',
      status: reply.status,
      payload: String(req.headers['x-amz-content-sha256'] ?? ''),
    });
    res.writeHead(reply.status, { 'x-amz-request-id': randomUUID(), ...reply.headers });
    res.end(req.method === 'HEAD' ? undefined : reply.body);
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
      const op = { name: 'Unknown' };
      try {
        verifySignature(req, url, String(req.headers['x-amz-content-sha256'] ?? sha256Hex(raw)));
        send(req, res, op, handle(op, req, url, raw));
      } catch (caught) {
        let err = caught as S3Error;
        if (!(err instanceof S3Error)) err = new S3Error(500, 'InternalError', (err as Error).message);
        const body = xml(
          `<Error><Code>${err.code}</Code><Message>${xmlEscape(err.message)}</Message><Resource>${xmlEscape(url.pathname)}</Resource><RequestId>${randomUUID()}</RequestId></Error>`,
        );
        send(req, res, op, { status: err.status, headers: { 'content-type': 'application/xml' }, body });
      }
    });
  };
  const tls = opts.tls ? await selfSigned() : undefined;
  const server = tls ? createTlsServer({ key: tls.key, cert: tls.cert }, onRequest) : createServer(onRequest);
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `${tls ? 'https' : 'http'}://${host}:${port}`,
    caBundle: tls?.certFile,
    region,
    accessKeyId,
    secretAccessKey,
    objects: (bucket) => [...bucketOf(bucket).values()].sort((a, b) => (a.key < b.key ? -1 : 1)),
    putObject: (bucket, key, body) => {
      const bytes = Buffer.from(body);
      bucketOf(bucket).set(key, {
        key,
        body: bytes,
        etag: createHash('md5').update(bytes).digest('hex'),
        lastModified: new Date(),
        contentType: 'binary/octet-stream',
      });
    },
    requests,
    stop: async () => {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      if (tls) await rm(tls.dir, { recursive: true, force: true });
    },
  };
}
