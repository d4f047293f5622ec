import { csrfSync } from 'csrf-sync';

/** The synchronizer token of visitors with a session (csrf-sync keeps it in the session); see src/app.ts. */
export const sessionCsrf = csrfSync({ getTokenFromRequest: (req) => req.body?._csrf ?? req.get('x-csrf-token') });
