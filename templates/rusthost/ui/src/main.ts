// The TypeScript part of {{name}}: embedded in the Rust host with include_bytes!.
import "./style.css";

export const parts = ["Rust (the host)", "C (a static library, linked by build.rs)", "TypeScript (this UI)"];

if (typeof document !== "undefined") {
  const root = document.getElementById("root");
  if (root) root.textContent = `{{name}}: ${parts.join(", ")}`;
}
