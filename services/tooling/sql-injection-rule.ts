// SQL put together from values at run time, the way injection happens: a query string built with
// `${...}` or `+` instead of parameters ($1, ?) or a tagged template (sql`...`, which libraries such
// as postgres.js and Slonik turn into parameters). eslint-plugin-sql's no-unsafe-query asks for one
// library's tag and does not see concatenation; eslint-plugin-security has no SQL rule. Without
// type information or data flow, where a value comes from is read from its name: one taken from a
// request (req.query.id, request.body, params) is sql-injection (an error in the config), any other
// non-constant value sql-interpolation (a warning): two rules, because ESLint's severity is per rule.
import type { Rule, Scope } from 'eslint';
import type * as ESTree from 'estree';

// A statement's shape, not a lone keyword: "Select ${n} items" is a sentence, "SELECT * FROM" a query.
const SQL_SHAPE =
  /^\s*(?:\(\s*)?(?:select\b[\s\S]*\bfrom\b|insert\s+into\b|update\s+\S+\s+set\b|delete\s+from\b|with\s+\w+\s+as\s*\(|merge\s+into\b|replace\s+into\b|truncate\b|drop\s+(?:table|view|index|schema|database)\b|alter\s+table\b|create\s+(?:table|view|index)\b)/i;

/** SQL's keywords are written all upper or all lower case; "Select ${n} items from the list" is a sentence. */
function looksLikeSql(text: string): boolean {
  if (!SQL_SHAPE.test(text)) return false;
  const keyword = /[a-z]+/i.exec(text)![0];
  return keyword === keyword.toUpperCase() || keyword === keyword.toLowerCase();
}

// The roots of values a caller sends: Express/Fastify/Koa requests, handler arguments, a CLI's argv.
const REQUEST_ROOT = /^(?:req|request|ctx|context|event|params|query|body|args|argv|input|payload|userInput|searchParams)$/;

/** The expression's name path, e.g. req.query.id -> ['req', 'query', 'id']; empty when it is not one. */
function namePath(node: ESTree.Node): string[] {
  if (node.type === 'Identifier') return [node.name];
  if (node.type === 'MemberExpression' && !node.computed && node.property.type === 'Identifier') {
    const left = namePath(node.object);
    return left.length > 0 ? [...left, node.property.name] : [];
  }
  if (node.type === 'MemberExpression') return namePath(node.object);
  if (node.type === 'ChainExpression') return namePath(node.expression);
  return [];
}

function fromRequest(node: ESTree.Node): boolean {
  const path = namePath(node);
  return path.length > 0 && (REQUEST_ROOT.test(path[0]) || (path[0] === 'process' && path[1] === 'argv'));
}

function variableOf(scope: Scope.Scope | null, name: string): Scope.Variable | undefined {
  for (let s = scope; s; s = s.upper) {
    const v = s.set.get(name);
    if (v) return v;
  }
  return undefined;
}

/** A value fixed in the source: a literal, or a const bound to one (a table name kept in a constant). */
function isConstant(node: ESTree.Node, scope: Scope.Scope, depth = 0): boolean {
  if (depth > 4) return false;
  switch (node.type) {
    case 'Literal':
      return true;
    case 'TemplateLiteral':
      return node.expressions.every((e) => isConstant(e, scope, depth + 1));
    case 'UnaryExpression':
      return isConstant(node.argument, scope, depth + 1);
    case 'BinaryExpression':
      return node.left.type !== 'PrivateIdentifier' && isConstant(node.left, scope, depth + 1) && isConstant(node.right, scope, depth + 1);
    case 'Identifier': {
      const def = variableOf(scope, node.name)?.defs[0];
      if (def?.type !== 'Variable' || def.parent.kind !== 'const') return false;
      const init = def.node.init;
      return init != null && isConstant(init, scope, depth + 1);
    }
    default:
      return false;
  }
}

/** The parts of a `+` chain, left to right. */
function operands(node: ESTree.Expression | ESTree.PrivateIdentifier): Array<ESTree.Expression | ESTree.PrivateIdentifier> {
  return node.type === 'BinaryExpression' && node.operator === '+' ? [...operands(node.left), ...operands(node.right)] : [node];
}

/** The text a part adds to the SQL, with ? where a value goes. */
function staticText(node: ESTree.Node): string {
  if (node.type === 'Literal' && typeof node.value === 'string') return node.value;
  if (node.type === 'TemplateLiteral') return node.quasis.map((q) => q.value.cooked ?? q.value.raw).join('?');
  return '?';
}

function isText(node: ESTree.Node): boolean {
  return (node.type === 'Literal' && typeof node.value === 'string') || node.type === 'TemplateLiteral';
}

function sqlRule(reports: 'request values' | 'other values'): Rule.RuleModule {
  return {
    meta: {
      type: 'problem',
      docs: { description: `SQL built by interpolating or concatenating ${reports} instead of passing them as parameters` },
      schema: [],
    },
    create(context) {
      const source = context.sourceCode;
      const check = (node: ESTree.Node, text: string, values: ESTree.Node[]) => {
        if (!looksLikeSql(text)) return;
        const scope = source.getScope(node);
        const unsafe = values.filter((v) => !isConstant(v, scope));
        if (unsafe.length === 0) return;
        const request = unsafe.find(fromRequest);
        if ((reports === 'request values') !== (request !== undefined)) return;
        const named = request ?? unsafe[0];
        const what = source.getText(named).slice(0, 60);
        context.report({
          node: named,
          message: request
            ? `SQL injection: ${what} comes from the request and is written into the SQL text; pass it as a query parameter ($1 or ?) instead`
            : `Possible SQL injection: ${what} is written into the SQL text; pass it as a query parameter ($1 or ?), or keep it in a constant if it is an identifier`,
        });
      };
      return {
        TemplateLiteral(node) {
          // A tagged template is the library's parameterised form.
          if (node.expressions.length === 0 || (node as Rule.Node).parent?.type === 'TaggedTemplateExpression') return;
          check(node, staticText(node), node.expressions);
        },
        BinaryExpression(node) {
          const parent = (node as Rule.Node).parent as ESTree.Node | null;
          if (node.operator !== '+' || (parent?.type === 'BinaryExpression' && parent.operator === '+')) return;
          const parts = operands(node);
          if (!parts.some(isText)) return;
          const text = parts.map(staticText).join('');
          // A template's own interpolations are its own to report.
          check(
            node,
            text,
            parts.filter((p): p is ESTree.Expression => p.type !== 'PrivateIdentifier' && !isText(p)),
          );
        },
      };
    },
  };
}

/** The rules under the `mesh` plugin name, for ESLint's config. */
export const sqlRules: Record<string, Rule.RuleModule> = {
  'sql-injection': sqlRule('request values'),
  'sql-interpolation': sqlRule('other values'),
};
