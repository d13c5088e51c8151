export { allows, ApiKeyStore, keyBudget, scopes, type Principal, type Scope } from './api-keys.ts';
export { checkCaller, type Caller } from './caller.ts';
