import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261124100000_initial } from './Migration20261124100000_initial';
import { Migration20261124110000_flows } from './Migration20261124110000_flows';
import { Migration20261124140000_quotes } from './Migration20261124140000_quotes';

/** Migrations are listed explicitly so they load the same way under tsx, jest and plain node. */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261124100000_initial', class: Migration20261124100000_initial },
  { name: 'Migration20261124110000_flows', class: Migration20261124110000_flows },
  { name: 'Migration20261124140000_quotes', class: Migration20261124140000_quotes },
];
