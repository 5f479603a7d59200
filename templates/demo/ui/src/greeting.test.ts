// Tests of the UI's TypeScript, run by `ppm test ui`: bundled by esbuild for node, then run
// with `node --test`.
import { test } from "node:test";
import assert from "node:assert/strict";

import { greeting } from "./greeting";

test("greeting names every language", () => {
  const text = greeting("{{name}}", [{ name: "Rust", role: "core" }, { name: "C", role: "math" }]);
  assert.equal(text, "{{name}} is built from 2 languages: Rust (core), C (math).");
});

test("greeting with no languages", () => {
  assert.match(greeting("x", []), /0 languages/);
});
