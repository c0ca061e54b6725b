"""Education connector: the LA's SEN team and schools, over a JSON API (and CSV import)."""
