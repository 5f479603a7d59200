// The TypeScript part of {{name}}: a small UI (JSX + CSS) bundled by esbuild for the browser.
// The Go host embeds the bundle, this CSS and public/index.html with go:embed.
import { h } from "./jsx";
import "./style.css";

interface Part {
  language: string;
  role: string;
}

const parts: Part[] = [
  { language: "Go", role: "the host" },
  { language: "Rust", role: "core library (static, through cgo)" },
  { language: "C", role: "math library (static, through cgo)" },
  { language: "TypeScript", role: "this UI" },
];

function App(): HTMLElement {
  return (
    <main className="app">
      <h1>{{name}}</h1>
      <ul>{parts.map((p) => <li><b>{p.language}</b>: {p.role}</li>)}</ul>
    </main>
  );
}

if (typeof document !== "undefined") {
  document.getElementById("root")?.replaceChildren(App());
}
