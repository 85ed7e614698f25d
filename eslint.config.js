import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    // In the esbuild bundle a dynamic import of a CommonJS package yields its exports under `default`
    // only: `const { stringify } = await import("yaml")` was undefined there and crashed the demo's
    // `lab stack-images --vars-out`. Packages are imported statically by a lazily imported module.
    files: ["src/**/*.ts"],
    rules: {
      "no-restricted-syntax": [
        "error",
        {
          selector: "ImportExpression > Literal[value=/^[^.]/]",
          message:
            "import a package statically, from a module that is itself imported lazily (see eslint.config.js)",
        },
      ],
    },
  },
  {
    files: ["bin/**/*.js", "eslint.config.js"],
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
  },
);
