import { Type } from 'typebox';
import { defineAgent, startAgent } from '../../agents/sdk/index.ts';
import { loadConfig } from '../../services/config/index.ts';

const wordCount = defineAgent<{ text: string }>({
  name: 'word-count',
  description: 'Counts the words of a text and names the most frequent one',
  capabilities: ['count words', 'find the most frequent word'],
  inputSchema: Type.Object({ text: Type.String() }),
  async execute({ text }) {
    const words = text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
    const counts = Map.groupBy(words, (word) => word);
    const [top] = [...counts].sort((a, b) => b[1].length - a[1].length);
    return {
      summary: `${words.length} words, ${counts.size} distinct`,
      words: words.length,
      distinct: counts.size,
      most_frequent: top?.[0] ?? null,
    };
  },
});

const agent = await startAgent(wordCount, loadConfig());
process.once('SIGTERM', () => void agent.close());
