//! End-to-end tests of Weft: real `weft`, `weft-peer` and `weft-orderer`
//! processes talking over sockets on 127.0.0.1. The tests live in `tests/`;
//! this library will hold what they share (process guards, port allocation).
