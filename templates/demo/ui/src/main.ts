// The TypeScript part of {{name}}: a tiny UI bundled by esbuild into one minified file
// that the Python host embeds (it reports the bundle's size and digest; `{{name}} ui --out FILE`
// writes it out so you can serve it).
import { greeting, Language } from "./greeting";

const languages: Language[] = [
  { name: "Rust", role: "core library" },
  { name: "C", role: "math library" },
  { name: "Zig", role: "number crunching" },
  { name: "Java", role: "native-image greeter" },
  { name: "TypeScript", role: "this UI" },
  { name: "Python", role: "the host" },
];

export function render(root: { textContent: string | null }): void {
  root.textContent = greeting("{{name}}", languages);
}

declare const document: { getElementById(id: string): { textContent: string | null } | null } | undefined;

if (typeof document !== "undefined") {
  const root = document.getElementById("app");
  if (root) render(root);
}
