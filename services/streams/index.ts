export { fieldsOf, requestStream, resultStream, type StreamEntries } from './fields.ts';
