// The TypeScript part of {{name}}: embedded in the C host with C23's #embed.
import "./style.css";

export const parts = ["C (the host)", "Zig (a static library)", "TypeScript (this UI)"];

if (typeof document !== "undefined") {
  const root = document.getElementById("root");
  if (root) root.textContent = `{{name}}: ${parts.join(", ")}`;
}
