import * as z from 'zod/v4';
import { nearestField } from '../http/index.ts';

/**
 * A tool's arguments, or an object among them, taking only the fields named: a misspelt one
 * ("descripton") is refused, naming it and what was meant, instead of being dropped as zod's
 * default object does (which ran the call without it, or without the option the caller meant).
 * The API routes refuse an unknown field the same way (error-handler.ts).
 */
export function strictArgs<Shape extends z.ZodRawShape>(shape: Shape, of: { tool: string } | { field: true }) {
  const fields = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code !== 'unrecognized_keys') return undefined;
      const hint = fields.length === 0 ? '; it takes none' : nearestField(issue.keys[0], fields);
      const unknown = issue.keys.join(', ');
      // The client adds where a nested object's issue is ("... at budget").
      return 'tool' in of ? `${unknown} is not an argument ${of.tool} takes${hint}` : `unknown field ${unknown} (${hint.slice(2)})`;
    },
  });
}
