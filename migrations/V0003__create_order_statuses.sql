-- Reference data travels as a migration, so every environment holds the same rows.
CREATE TABLE order_statuses (
  code VARCHAR(20) NOT NULL,
  description VARCHAR(100) NOT NULL,
  PRIMARY KEY (code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT INTO order_statuses (code, description) VALUES
  ('pending', 'Placed; awaiting payment'),
  ('paid', 'Paid; awaiting shipment'),
  ('shipped', 'Handed to the carrier'),
  ('cancelled', 'Cancelled before shipment');
