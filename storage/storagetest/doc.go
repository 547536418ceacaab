// Package storagetest holds the contract suites that every storage
// implementation runs from its own tests: TestCallStore for call stores and
// TestBlobStore for blob stores. One suite per interface keeps the in-memory
// stores used in development honest about behaving like the production ones.
//
// The suites use only what the interfaces document, so a failure means an
// implementation breaks the contract, not that it differs in detail.
package storagetest
