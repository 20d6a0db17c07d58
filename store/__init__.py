"""The database: schema, engine from EQUITY_DATABASE_URL, import of extracts, status."""
from store.engine import database_url, describe, ensure_schema, get_engine, schema_exists
from store.importer import ImportSummary, import_extract
from store.problems import ImportRefused
from store.status import is_empty, measures_loaded, status

__all__ = [
    "ImportRefused", "ImportSummary", "database_url", "describe", "ensure_schema",
    "get_engine", "import_extract", "is_empty", "measures_loaded", "schema_exists", "status",
]
