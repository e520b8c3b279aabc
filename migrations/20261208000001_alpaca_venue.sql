-- A paper account's broker may be Alpaca (US stocks) as well as Binance USDⓈ-M.
ALTER TABLE venue_connections DROP CONSTRAINT venue_connections_venue_check;
ALTER TABLE venue_connections
    ADD CONSTRAINT venue_connections_venue_check CHECK (venue IN ('binance-usdm', 'alpaca'));
