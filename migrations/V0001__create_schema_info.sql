-- Facts about this database that tools and people read: who owns it, what it is for.
CREATE TABLE schema_info (
  name VARCHAR(64) NOT NULL,
  value VARCHAR(255) NOT NULL,
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT INTO schema_info (name, value) VALUES
  ('owner', 'aurora-global-infra'),
  ('purpose', 'application database; schema managed by versioned migrations only');
