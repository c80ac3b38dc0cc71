"""`tip-broker doctor`: checks every link of the chain, from settings to one real GetDataAccess."""
