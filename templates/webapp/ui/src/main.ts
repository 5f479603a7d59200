// The TypeScript part of {{name}}: asks the Python host for its status and shows it.
import "./style.css";

interface Status {
  app: string;
  python: string;
  files: string[];
}

export function describe(s: Status): string {
  return `${s.app} is served by Python ${s.python} from one executable (${s.files.length} embedded files)`;
}

async function main(): Promise<void> {
  const root = document.getElementById("root");
  if (!root) return;
  const r = await fetch("/api/status");
  root.textContent = describe((await r.json()) as Status);
}

if (typeof document !== "undefined") void main();
