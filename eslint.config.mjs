// ESLint for the JavaScript of the book's widgets (src/tinylm/widgets/*.js): `make lint` runs it
// with ruff. Each file is a browser ES module; common.js holds the helpers they share.
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["node_modules/", "_build/", ".venv/"] },
  {
    files: ["src/tinylm/widgets/**/*.js"],
    ...js.configs.recommended,
    languageOptions: {
      ecmaVersion: "latest",
      sourceType: "module",
      globals: { ...globals.browser },
    },
    rules: {
      ...js.configs.recommended.rules,
      "no-unused-vars": ["error", { args: "after-used", argsIgnorePattern: "^_" }],
      eqeqeq: ["error", "always"],
      "no-var": "error",
      "prefer-const": ["error", { destructuring: "all" }],
      "no-shadow": "error",
      "no-implicit-globals": "error",
    },
  },
];
