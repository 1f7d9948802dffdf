-- mercato on compose: one role and one database per service, each database owned by its role
-- (so each service's migrations create and own their tables, and no service can read another's
-- data). Run once by the postgres image on an empty data volume (/docker-entrypoint-initdb.d).
-- The passwords are development values; compose.yaml's DATABASE_URLs use the same ones, and
-- deploy/check/compose_check.py checks that every DATABASE_URL names a role and database made here.
-- The gateway has no database.
CREATE ROLE identity LOGIN PASSWORD 'identity-dev-password';
CREATE DATABASE identity OWNER identity;
CREATE ROLE catalog LOGIN PASSWORD 'catalog-dev-password';
CREATE DATABASE catalog OWNER catalog;
CREATE ROLE orders LOGIN PASSWORD 'orders-dev-password';
CREATE DATABASE orders OWNER orders;
CREATE ROLE payments LOGIN PASSWORD 'payments-dev-password';
CREATE DATABASE payments OWNER payments;
CREATE ROLE shipping LOGIN PASSWORD 'shipping-dev-password';
CREATE DATABASE shipping OWNER shipping;
CREATE ROLE notifications LOGIN PASSWORD 'notifications-dev-password';
CREATE DATABASE notifications OWNER notifications;
-- Nobody but the owner connects to a service's database (PUBLIC has CONNECT by default).
REVOKE CONNECT ON DATABASE identity, catalog, orders, payments, shipping, notifications FROM PUBLIC;
