SELECT note FROM accounts WHERE false;
SELECT probe FROM gadgets WHERE false;
