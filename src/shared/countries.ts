/** The countries the address forms offer (checkout and the staff order editor). */
export const COUNTRIES = [
  { code: 'DK', name: 'Denmark' }, { code: 'SE', name: 'Sweden' }, { code: 'NO', name: 'Norway' }, { code: 'DE', name: 'Germany' },
  { code: 'NL', name: 'Netherlands' }, { code: 'GB', name: 'United Kingdom' }, { code: 'US', name: 'United States' },
];

const NAMES = new Map(COUNTRIES.map((c) => [c.code, c.name]));

/** A country as an address shows it: its name, or the code as stored when it is not one the forms offer. */
export function countryName(code: string): string {
  return NAMES.get(code) ?? code;
}
