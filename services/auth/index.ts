export { allows, ApiKeyStore, scopes, type Principal, type Scope } from './api-keys.ts';
export { checkCaller, type Caller } from './caller.ts';
