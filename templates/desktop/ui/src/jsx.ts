// A ten-line JSX runtime, so the template builds offline with no npm package. For React
// itself: `ppm add npm:react npm:react-dom --to ui`, then set "jsx": "react-jsx" in tsconfig.json
// and render with react-dom/client; esbuild bundles it the same way.
type Child = Node | string | number | null | undefined | false | Child[];
type Props = Record<string, string | ((e: Event) => void)> | null;

export function h(tag: string, props: Props, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props ?? {})) {
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, "").toLowerCase(), v);
    else el.setAttribute(k === "className" ? "class" : k, v);
  }
  for (const c of children.flat(Infinity) as Child[]) if (c !== null && c !== undefined && c !== false) el.append(c as Node | string);
  return el;
}

export function Fragment(_: Props, ...children: Child[]): DocumentFragment {
  const f = document.createDocumentFragment();
  for (const c of children) if (c !== null && c !== undefined && c !== false) f.append(c as Node | string);
  return f;
}
