export interface Language {
  name: string;
  role: string;
}

export function greeting(app: string, languages: readonly Language[]): string {
  const parts = languages.map((l) => `${l.name} (${l.role})`);
  return `${app} is built from ${languages.length} languages: ${parts.join(", ")}.`;
}
