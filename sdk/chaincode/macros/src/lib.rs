//! The `#[contract]` attribute of `weft-chaincode` (placeholder until written).

use proc_macro::TokenStream;

/// Marks an impl block as a chaincode contract.
#[proc_macro_attribute]
pub fn contract(_attr: TokenStream, item: TokenStream) -> TokenStream {
    item
}
