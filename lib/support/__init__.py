"""Small shared support every layer may use: settings, logging, redaction, errors, URLs, credentials."""
