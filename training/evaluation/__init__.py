"""Detection metrics (also at the production fraud rate) and the report's plots."""
