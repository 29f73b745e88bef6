//! Text formats: dagron's JSON document, Graphviz DOT, Mermaid.

pub mod dot;
pub mod json;
pub mod mermaid;

pub use dot::to_dot;
pub use json::{from_json, from_json_with, to_json, NodeExtras, FORMAT_NAME, FORMAT_VERSION};
pub use mermaid::to_mermaid;
