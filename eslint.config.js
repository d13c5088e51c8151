// npm run lint: ESLint with typescript-eslint's type-aware rules over the project's own code.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      'services/orchestrator/ui/dist/',
      '.data/',
      'coverage/',
      'terraform/cdktf.out/',
      'terraform/.gen/',
      '.cache/',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // Where it pays: a missed case of a union, a rejection escaping its try, loose equality.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      eqeqeq: ['error', 'smart'],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Callbacks made before a value exists read it once it does (the engine in orchestrator/app.ts).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Fastify hooks and handlers are async by contract, with or without an await inside.
      '@typescript-eslint/require-await': 'off',
      // What is stringified is JSON from our own API, typed unknown; `[object Object]` would show in a test.
      '@typescript-eslint/no-base-to-string': 'off',
    },
  },
  {
    // Tests read untyped JSON answers on purpose: the assertions are the type check there.
    files: ['tests/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/unbound-method': 'off',
      // A cast there names what the test expects to read, even where the compiler could infer it.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
    },
  },
  {
    // The Gradient function is plain CommonJS, run by DigitalOcean Functions' Node.
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: {
        process: 'readonly',
        fetch: 'readonly',
        exports: 'writable',
        require: 'readonly',
        module: 'writable',
        console: 'readonly',
      },
    },
  },
);
