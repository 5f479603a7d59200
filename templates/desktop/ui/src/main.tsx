// The TypeScript part of {{name}}: a small React UI (JSX + CSS) bundled by esbuild for the
// browser. React comes from npm through ppm.lock (ppm.toml's [components.ui.dependencies.npm]);
// the Go host embeds the bundle, this CSS and public/index.html with go:embed.
import { StrictMode, useState } from "react";
import { createRoot } from "react-dom/client";
import "./style.css";

interface Part {
  language: string;
  role: string;
}

const parts: Part[] = [
  { language: "Go", role: "the host" },
  { language: "Rust", role: "core library (static, through cgo)" },
  { language: "C", role: "math library (static, through cgo)" },
  { language: "TypeScript", role: "this UI (React)" },
];

function App() {
  const [clicks, setClicks] = useState(0);
  return (
    <main className="app">
      <h1>{{name}}</h1>
      <ul>
        {parts.map((p) => (
          <li key={p.language}>
            <b>{p.language}</b>: {p.role}
          </li>
        ))}
      </ul>
      <button type="button" onClick={() => setClicks(clicks + 1)}>
        clicked {clicks} times
      </button>
    </main>
  );
}

const root = typeof document !== "undefined" ? document.getElementById("root") : null;
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}
