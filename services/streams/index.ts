export { deadLetterStream, fieldsOf, requestStream, resultStream, type StreamEntries } from './fields.ts';
