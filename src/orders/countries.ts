/** The countries the address forms offer (checkout and the staff order editor). */
export const COUNTRIES = [
  { code: 'DK', name: 'Denmark' }, { code: 'SE', name: 'Sweden' }, { code: 'NO', name: 'Norway' }, { code: 'DE', name: 'Germany' },
  { code: 'NL', name: 'Netherlands' }, { code: 'GB', name: 'United Kingdom' }, { code: 'US', name: 'United States' },
];
