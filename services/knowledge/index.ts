export { buildKnowledgeApp, type KnowledgeOptions } from './app.ts';
export { createMemoryCache, createRedisCache, type QueryCache } from './cache.ts';
export { splitMarkdown, splitText, titleOf, type Passage } from './passages.ts';
