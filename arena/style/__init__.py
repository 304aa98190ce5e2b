"""Style of an answer (length and markdown), measured so ratings can be controlled for a judge's taste."""
